# The engine's include check (cmake/CheckIncludes.cmake) must fail on a unit that includes a gRPC,
# protobuf, SQLite or spdlog header (they live in /usr/include, which a -MM closure leaves out) and
# pass on one that includes the engine's own headers only.
# Usage: cmake -DCXX=c++ -DROOT=source-dir -DWORK=dir "-DFORBIDDEN=a|b" -P include_check_test.cmake
file(MAKE_DIRECTORY ${WORK})
function(check_probe name header expect_pass expect_pattern)
  set(src ${WORK}/${name}.cc)
  file(WRITE ${src} "#include \"server/engine/engine.h\"\n#include <${header}>\nint main() {}\n")
  execute_process(
    COMMAND ${CMAKE_COMMAND} -DCXX=${CXX} -DSRC=${src} -DINCLUDES=-I${ROOT} -DDEPS=${WORK}/${name}.d
            -DSTAMP=${WORK}/${name}.ok "-DFORBIDDEN=${FORBIDDEN}" -P ${ROOT}/cmake/CheckIncludes.cmake
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(expect_pass AND NOT rc EQUAL 0)
    message(FATAL_ERROR "${name}: the check failed on an allowed header: ${err}")
  endif()
  if(NOT expect_pass)
    if(rc EQUAL 0)
      message(FATAL_ERROR "${name}: the check passed a unit that includes <${header}>")
    endif()
    if(NOT err MATCHES "forbidden header \\(${expect_pattern}\\)")
      message(FATAL_ERROR "${name}: failed, but not for ${expect_pattern}: ${err}")
    endif()
  endif()
  message(STATUS "ok ${name}")
endfunction()

check_probe(allowed absl/strings/str_cat.h TRUE "")
check_probe(spdlog spdlog/spdlog.h FALSE spdlog)
check_probe(grpc grpcpp/grpcpp.h FALSE grpc)
check_probe(protobuf google/protobuf/message.h FALSE google/protobuf)
check_probe(sqlitecpp SQLiteCpp/SQLiteCpp.h FALSE SQLiteCpp)
check_probe(sqlite3 sqlite3.h FALSE sqlite3.h)
