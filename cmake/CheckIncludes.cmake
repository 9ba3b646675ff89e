# Preprocesses one engine source for its whole include closure (-M: system headers too, which is
# where gRPC, protobuf, SQLiteCpp and spdlog live) and fails when it names a forbidden header.
# Usage: cmake -DCXX=c++ -DSRC=file.cc "-DINCLUDES=-Idir|-Idir" -DDEPS=file.d -DSTAMP=file
#              "-DFORBIDDEN=grpc|google/protobuf|..." -P CheckIncludes.cmake
# The dependency file (-MF DEPS, target STAMP) also tells the build when to check again.
string(REPLACE "|" ";" includes "${INCLUDES}")
string(REPLACE "|" ";" forbidden "${FORBIDDEN}")
execute_process(
  COMMAND ${CXX} -std=c++20 -M -MT ${STAMP} -MF ${DEPS} ${includes} ${SRC}
  RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "engine include check: cannot preprocess ${SRC}: ${err}")
endif()
file(READ "${DEPS}" deps)
foreach(pattern IN LISTS forbidden)
  string(FIND "${deps}" "${pattern}" pos)
  if(NOT pos EQUAL -1)
    string(SUBSTRING "${deps}" ${pos} 120 around)
    message(FATAL_ERROR "engine include closure has a forbidden header (${pattern}): ${around}")
  endif()
endforeach()
file(WRITE "${STAMP}" "ok\n")
