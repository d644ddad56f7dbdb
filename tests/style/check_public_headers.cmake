# cmake -DSOURCE_DIR=<repo> -DLIST_FILE=<file setting listed_headers> -P check_public_headers.cmake
# fails if a public header (<module>/include/tendril/**.hpp) is missing from
# tests/style/CMakeLists.txt or listed but gone, or if a public header
# includes anything but the standard library (<name>, no extension), the
# POSIX socket and signal headers io's types need (<sys/socket.h>,
# <netinet/in.h>, <signal.h>) and tendril's own headers (<tendril/...>):
# STYLE.md keeps <ev.h>, <ares.h>, <curl/curl.h> and Boost out of
# everything installed.

cmake_minimum_required(VERSION 3.25)

include(${LIST_FILE})

# Modules are the top-level folders with an include/ directory (and the
# top-level include/ of the umbrella header); build trees
# (build*/, with their staged installs) are not modules.
file(GLOB module_includes LIST_DIRECTORIES true RELATIVE ${SOURCE_DIR} ${SOURCE_DIR}/*/include)
list(APPEND module_includes include)  # the umbrella header's own directory
set(found_headers "")
foreach(dir IN LISTS module_includes)
  if(dir MATCHES "^build" OR NOT IS_DIRECTORY ${SOURCE_DIR}/${dir})
    continue()
  endif()
  file(GLOB_RECURSE headers RELATIVE ${SOURCE_DIR} ${SOURCE_DIR}/${dir}/*.hpp ${SOURCE_DIR}/${dir}/*.h)
  list(APPEND found_headers ${headers})
endforeach()

set(problems "")
foreach(header IN LISTS listed_headers)
  if(NOT header IN_LIST found_headers)
    string(APPEND problems "\n  ${header} is in tendril_public_headers but does not exist")
  endif()
endforeach()
foreach(header IN LISTS found_headers)
  if(NOT header IN_LIST listed_headers)
    string(APPEND problems "\n  ${header} is not in tendril_public_headers (tests/style/CMakeLists.txt)")
  endif()
  file(STRINGS ${SOURCE_DIR}/${header} includes REGEX "^[ \t]*#[ \t]*include")
  foreach(line IN LISTS includes)
    if(line MATCHES "#[ \t]*include[ \t]*<([^>]+)>")
      set(target ${CMAKE_MATCH_1})
      if(NOT target MATCHES "^tendril/" AND NOT target MATCHES "^[a-z_0-9]+$"
         AND NOT target MATCHES "^(sys/socket|sys/types|netinet/in|signal)\\.h$")
        string(APPEND problems "\n  ${header} includes <${target}>: not standard C++, POSIX sockets nor tendril")
      endif()
    else()
      string(APPEND problems "\n  ${header}: '${line}': public headers include with <...>")
    endif()
  endforeach()
endforeach()

list(LENGTH found_headers count)
if(problems)
  message(FATAL_ERROR "public headers:${problems}")
endif()
message("public headers: ${count} listed, each includes only the standard library and tendril")
