# Warnings and sanitizers, applied through an interface target that every
# tendril target (libraries, tests, examples, benchmarks) links privately.

add_library(tendril_build_options INTERFACE)
target_compile_options(tendril_build_options INTERFACE -Wall -Wextra -Wpedantic $<$<BOOL:${TENDRIL_WERROR}>:-Werror>)
# With sanitizers, GCC 12 reports -Wmaybe-uninitialized false positives inside
# the standard library (std::function in std::regex, which Catch2 uses); the
# unsanitized build keeps the warning.
if(NOT TENDRIL_SANITIZE STREQUAL "")
  target_compile_options(tendril_build_options INTERFACE -Wno-maybe-uninitialized)
endif()

if(TENDRIL_SANITIZE STREQUAL "address")
  set(tendril_sanitize_flags -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
elseif(TENDRIL_SANITIZE STREQUAL "thread")
  set(tendril_sanitize_flags -fsanitize=thread)
elseif(NOT TENDRIL_SANITIZE STREQUAL "")
  message(FATAL_ERROR "TENDRIL_SANITIZE must be empty, 'address' or 'thread', not '${TENDRIL_SANITIZE}'")
endif()
if(tendril_sanitize_flags)
  # Global, so that everything linked into a test agrees on instrumentation.
  add_compile_options(${tendril_sanitize_flags})
  add_link_options(${tendril_sanitize_flags})
endif()

find_program(TENDRIL_CCACHE ccache)
if(TENDRIL_CCACHE)
  set(CMAKE_CXX_COMPILER_LAUNCHER "${TENDRIL_CCACHE}")
  set(CMAKE_C_COMPILER_LAUNCHER "${TENDRIL_CCACHE}")
endif()

# tendril_add_library(NAME module SOURCES ... DEPENDS ...) declares tendril::<module>
# with public headers in <module>/include.
function(tendril_add_library module)
  cmake_parse_arguments(arg "" "" "SOURCES;PUBLIC_DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(tendril_${module} ${arg_SOURCES})
  add_library(tendril::${module} ALIAS tendril_${module})
  set_target_properties(tendril_${module} PROPERTIES EXPORT_NAME ${module} OUTPUT_NAME tendril_${module})
  target_include_directories(tendril_${module} PUBLIC
    $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}/include>
    $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
  target_include_directories(tendril_${module} PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/src)
  target_compile_features(tendril_${module} PUBLIC cxx_std_20)
  target_link_libraries(tendril_${module} PUBLIC ${arg_PUBLIC_DEPS} PRIVATE ${arg_PRIVATE_DEPS}
                        $<BUILD_INTERFACE:tendril_build_options>)
  # The libraries are position-independent (libtendril_patch.so links them);
  # without this, -fPIC forbids inlining any global function within its own
  # file, on the chance that another library interposes it.
  target_compile_options(tendril_${module} PRIVATE -fno-semantic-interposition)
  install(TARGETS tendril_${module} EXPORT tendril-targets
          ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
          LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
  install(DIRECTORY include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
endfunction()
