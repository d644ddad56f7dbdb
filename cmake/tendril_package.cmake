# The exported CMake package: find_package(tendril CONFIG [COMPONENTS ...]).

include(CMakePackageConfigHelpers)

install(TARGETS tendril EXPORT tendril-targets)
install(EXPORT tendril-targets NAMESPACE tendril:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/tendril)
configure_package_config_file(
  ${PROJECT_SOURCE_DIR}/cmake/tendrilConfig.cmake.in
  ${PROJECT_BINARY_DIR}/tendrilConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/tendril)
write_basic_package_version_file(
  ${PROJECT_BINARY_DIR}/tendrilConfigVersion.cmake COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/tendrilConfig.cmake ${PROJECT_BINARY_DIR}/tendrilConfigVersion.cmake
              ${PROJECT_SOURCE_DIR}/cmake/Findlibev.cmake
              ${PROJECT_SOURCE_DIR}/cmake/Findcares.cmake
              ${PROJECT_SOURCE_DIR}/cmake/Findhttp_parser.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/tendril)
