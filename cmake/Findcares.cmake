# Findcares: Debian's libc-ares-dev (1.18) ships a pkg-config file but no
# CMake package, so this finds its header and library and defines
# cares::cares. Installed beside tendril's package config, like Findlibev.

find_path(cares_INCLUDE_DIR ares.h)
find_library(cares_LIBRARY cares)

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(cares REQUIRED_VARS cares_LIBRARY cares_INCLUDE_DIR)

if(cares_FOUND AND NOT TARGET cares::cares)
  add_library(cares::cares UNKNOWN IMPORTED)
  set_target_properties(cares::cares PROPERTIES
    IMPORTED_LOCATION "${cares_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${cares_INCLUDE_DIR}")
endif()
mark_as_advanced(cares_INCLUDE_DIR cares_LIBRARY)
