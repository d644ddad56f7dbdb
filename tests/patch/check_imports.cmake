# cmake -DPROGRAM=<file> -DSYMBOLS=<a;b;...> -P check_imports.cmake fails
# unless PROGRAM imports every one of SYMBOLS (nm -D --undefined-only).

execute_process(COMMAND nm -D --undefined-only ${PROGRAM} OUTPUT_VARIABLE imports RESULT_VARIABLE status)
if(NOT status STREQUAL "0")
  message(FATAL_ERROR "nm -D ${PROGRAM} failed: ${status}")
endif()
foreach(symbol IN LISTS SYMBOLS)
  if(NOT imports MATCHES "[ \t]U ${symbol}(@|\n)")
    message(FATAL_ERROR "${PROGRAM} does not call ${symbol}")
  endif()
endforeach()
message("${PROGRAM} calls ${SYMBOLS}")
