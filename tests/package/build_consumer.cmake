# cmake -DSOURCE_DIR=... -DBUILD_DIR=... -DSTAGE=... -DGENERATOR=... -DMAKE_PROGRAM=...
#       -DCXX_COMPILER=... -DBUILD_TYPE=... -DCXX_FLAGS=... [-DCOMPONENTS=a,b]
#       [-DEXPECT_ERROR=regex] -P build_consumer.cmake
# configures, builds and runs the consumer project against the staged install.

cmake_minimum_required(VERSION 3.25)

# run_step(<what> COMMAND ...) runs a command and stops the test if it fails.
function(run_step what)
  execute_process(${ARGN} RESULT_VARIABLE status)
  if(NOT status STREQUAL "0")
    message(FATAL_ERROR "consumer: ${what} failed: ${status}")
  endif()
endfunction()

file(REMOVE_RECURSE ${BUILD_DIR})
set(configure ${CMAKE_COMMAND} -S ${SOURCE_DIR} -B ${BUILD_DIR} -G ${GENERATOR}
    -DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM}
    -DCMAKE_CXX_COMPILER=${CXX_COMPILER}
    -DCMAKE_BUILD_TYPE=${BUILD_TYPE}
    -DCMAKE_CXX_FLAGS=${CXX_FLAGS}
    -DCMAKE_EXE_LINKER_FLAGS=${CXX_FLAGS}
    -DCMAKE_PREFIX_PATH=${STAGE}
    -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF
    -DEXPECTED_PREFIX=${STAGE}
    -DTENDRIL_COMPONENTS=${COMPONENTS})

if(EXPECT_ERROR)
  execute_process(COMMAND ${configure} RESULT_VARIABLE status OUTPUT_VARIABLE out ERROR_VARIABLE err)
  message("${out}${err}")
  if(status STREQUAL "0")
    message(FATAL_ERROR "consumer: configuring succeeded; expected it to fail with '${EXPECT_ERROR}'")
  endif()
  if(NOT "${out}${err}" MATCHES "${EXPECT_ERROR}")
    message(FATAL_ERROR "consumer: configuring failed, but without the expected message '${EXPECT_ERROR}'")
  endif()
  return()
endif()

run_step("configuring" COMMAND ${configure})
run_step("building" COMMAND ${CMAKE_COMMAND} --build ${BUILD_DIR})
run_step("running" COMMAND ${BUILD_DIR}/tendril_consumer)
