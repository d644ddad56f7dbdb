// Catch2's main, compiled once and linked into every test executable.
#define CATCH_CONFIG_MAIN
// Catch 2.13's console reporter asserts or loops on long test names that
// contain ": " when it wraps them; a wide console never wraps them.
#define CATCH_CONFIG_CONSOLE_WIDTH 300
#include <catch2/catch.hpp>
