# -DMIDWIFE_SANITIZE=address,undefined (or thread) builds everything with the
# named sanitizers; used by the separate build folders of
# scripts/ci-hardening.sh (build-asan/, build-tsan/). A finding stops the
# process (-fno-sanitize-recover), so a test that trips one fails.
set(MIDWIFE_SANITIZE "" CACHE STRING "Comma-separated -fsanitize= list, empty for none")
if(MIDWIFE_SANITIZE)
  add_compile_options(-fsanitize=${MIDWIFE_SANITIZE} -fno-sanitize-recover=all
                      -fno-omit-frame-pointer)
  add_link_options(-fsanitize=${MIDWIFE_SANITIZE})
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    # GCC's flow analysis sees through the sanitizer checks badly: with them
    # it warns "may be used uninitialized" inside libstdc++'s <regex> and
    # std::function, which -Werror would turn into a failed build.
    add_compile_options(-Wno-maybe-uninitialized)
    if(MIDWIFE_SANITIZE MATCHES "thread")
      # GCC 12 warns that TSan does not model std::atomic_thread_fence, which
      # Boost.Asio's headers use; -Werror would turn that into a failed
      # build. A race TSan then misses would still show under ASan's tests
      # and the suppressions in scripts/sanitizers/ name every known one.
      add_compile_options(-Wno-tsan)
    endif()
  endif()
endif()
