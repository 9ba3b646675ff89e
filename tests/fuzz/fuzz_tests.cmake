# The short fuzz run of `make test` (label fuzz). fuzz_build builds the clang tree in build/fuzz
# (tests/fuzz/CMakeLists.txt is a project of its own; this build never compiles it), then each
# target runs for 20 seconds from its seeds and fails on a crash, a sanitizer report or a broken
# invariant. `make fuzz` is the long run.
set(FUZZ_RUN ${PROJECT_SOURCE_DIR}/tests/fuzz/run.sh)
add_test(NAME fuzz_build COMMAND bash ${FUZZ_RUN} --build-only)
set_tests_properties(fuzz_build PROPERTIES LABELS fuzz FIXTURES_SETUP fuzz_tree TIMEOUT 1800)
foreach(target csv_reader time_parse params run_request_json runner_events runner_event_reader)
  add_test(NAME fuzz_${target} COMMAND bash ${FUZZ_RUN} --no-build --seconds 20 ${target})
  set_tests_properties(fuzz_${target} PROPERTIES LABELS fuzz FIXTURES_REQUIRED fuzz_tree
    RESOURCE_LOCK fuzz TIMEOUT 300)
endforeach()
