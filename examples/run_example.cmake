# cmake -DPROGRAM=<path> [-DEXPECTED=<file>] -P run_example.cmake
# runs an example, echoes what it printed, and fails unless it exited 0 and,
# if EXPECTED names a file, its stdout equals that file's contents.

cmake_minimum_required(VERSION 3.25)

execute_process(COMMAND ${PROGRAM} RESULT_VARIABLE status OUTPUT_VARIABLE out ERROR_VARIABLE err)
message("${out}")
if(err)
  message("stderr:\n${err}")
endif()
if(NOT status STREQUAL "0")
  message(FATAL_ERROR "${PROGRAM} exited with '${status}'")
endif()
if(EXPECTED)
  file(READ ${EXPECTED} expected_out)
  if(NOT out STREQUAL expected_out)
    file(WRITE ${PROGRAM}.actual "${out}")
    message(FATAL_ERROR "${PROGRAM} printed something other than ${EXPECTED}; its output is in "
                        "${PROGRAM}.actual (diff the two; if the change is intended, copy it over)")
  endif()
endif()
