# -DMIDWIFE_SANITIZE=address,undefined (or thread) builds everything with the
# named sanitizers; used by a separate build folder in .ci/run.
set(MIDWIFE_SANITIZE "" CACHE STRING "Comma-separated -fsanitize= list, empty for none")
if(MIDWIFE_SANITIZE)
  add_compile_options(-fsanitize=${MIDWIFE_SANITIZE} -fno-omit-frame-pointer)
  add_link_options(-fsanitize=${MIDWIFE_SANITIZE})
endif()
