include(GoogleTest)
# backtest_test(NAME LABEL label [FILTER gtest-filter] SOURCES ... LIBS ...): one gtest binary, its
# tests (those FILTER selects, when given) discovered into ctest with the label and the source/bin
# directories in the environment.
function(backtest_test name)
  cmake_parse_arguments(T "" "LABEL;FILTER" "SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR})
  target_link_libraries(${name} PRIVATE ${T_LIBS} GTest::gmock GTest::gtest_main)
  # Where the tests find the source tree and the built binaries (the environment may override).
  target_compile_definitions(${name} PRIVATE
    BACKTEST_SOURCE_DIR_DEFAULT="${PROJECT_SOURCE_DIR}" BACKTEST_BIN_DIR_DEFAULT="${BACKTEST_BIN_DIR}")
  if(T_FILTER)
    gtest_discover_tests(${name} PROPERTIES LABELS ${T_LABEL} DISCOVERY_TIMEOUT 30
      TEST_FILTER ${T_FILTER})
  else()
    gtest_discover_tests(${name} PROPERTIES LABELS ${T_LABEL} DISCOVERY_TIMEOUT 30)
  endif()
endfunction()
