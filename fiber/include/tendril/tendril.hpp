#pragma once
// The umbrella header: everything in tendril::tendril.

#include <tendril/error.hpp>
#include <tendril/fiber/fiber_local.hpp>
#include <tendril/fiber/generator.hpp>
#include <tendril/fiber/greenlet.hpp>
#include <tendril/fiber/stack.hpp>
#include <tendril/fiber/trace.hpp>
