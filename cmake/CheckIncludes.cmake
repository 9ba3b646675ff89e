# Fails when a dependency list written by the compiler (-MM) names a forbidden header.
# Usage: cmake -DDEPS=file.d -DFORBIDDEN="grpc;google/protobuf;..." -DSTAMP=file -P CheckIncludes.cmake
file(READ "${DEPS}" deps)
foreach(pattern IN LISTS FORBIDDEN)
  string(FIND "${deps}" "${pattern}" pos)
  if(NOT pos EQUAL -1)
    string(SUBSTRING "${deps}" ${pos} 120 around)
    message(FATAL_ERROR "engine include closure has a forbidden header (${pattern}): ${around}")
  endif()
endforeach()
file(WRITE "${STAMP}" "ok\n")
