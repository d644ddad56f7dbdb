# Findlibev: libev (Debian libev-dev) ships no CMake package or pkg-config
# file, so this finds its header and library and defines libev::libev.
# Installed beside tendril's package config, which needs it for consumers
# linking tendril's static libraries.

find_path(libev_INCLUDE_DIR ev.h)
find_library(libev_LIBRARY ev)

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(libev REQUIRED_VARS libev_LIBRARY libev_INCLUDE_DIR)

if(libev_FOUND AND NOT TARGET libev::libev)
  add_library(libev::libev UNKNOWN IMPORTED)
  set_target_properties(libev::libev PROPERTIES
    IMPORTED_LOCATION "${libev_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${libev_INCLUDE_DIR}")
endif()
mark_as_advanced(libev_INCLUDE_DIR libev_LIBRARY)
