# cmake -DBUILD_DIR=<build> -DSTAGE=<prefix> -P stage_install.cmake
# installs the build into a fresh staging prefix, so that files a previous run
# installed cannot hide one that is no longer installed.

cmake_minimum_required(VERSION 3.25)

file(REMOVE_RECURSE ${STAGE})
execute_process(COMMAND ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${STAGE} RESULT_VARIABLE status)
if(NOT status STREQUAL "0")
  message(FATAL_ERROR "cmake --install ${BUILD_DIR} --prefix ${STAGE} failed: ${status}")
endif()
