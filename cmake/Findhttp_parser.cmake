# Findhttp_parser: Debian's libhttp-parser-dev (2.9) ships neither a CMake
# package nor a pkg-config file, so this finds its header and library and
# defines http_parser::http_parser. Installed beside tendril's package config.

find_path(http_parser_INCLUDE_DIR http_parser.h)
find_library(http_parser_LIBRARY http_parser)

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(http_parser REQUIRED_VARS http_parser_LIBRARY http_parser_INCLUDE_DIR)

if(http_parser_FOUND AND NOT TARGET http_parser::http_parser)
  add_library(http_parser::http_parser UNKNOWN IMPORTED)
  set_target_properties(http_parser::http_parser PROPERTIES
    IMPORTED_LOCATION "${http_parser_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${http_parser_INCLUDE_DIR}")
endif()
mark_as_advanced(http_parser_INCLUDE_DIR http_parser_LIBRARY)
