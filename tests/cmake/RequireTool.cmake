# RequireTool.cmake — the test build's toolchain check. A test that needs a
# program (node, java, go, chromium) must not vanish when the program is
# missing or too old: configuring the tests fails, saying what was found and
# how to install it. scripts/bootstrap.sh installs all of them; a program in
# a non-standard place is given with -D<VAR>=/path/to/program.
#
# mcloud_require_tool(VAR NAME MIN_VERSION REGEX HOWTO [ARGS...])
#   VAR          cache variable holding the program's path (e.g. MCLOUD_NODE)
#   NAME         the program's name(s) to search, ';'-separated
#   MIN_VERSION  lowest accepted version ("" = any)
#   REGEX        extracts the version (group 1) from the output of ARGS
#   HOWTO        how to install it, printed on failure
#   ARGS         what prints the version (default --version)
# Searched first in scripts/bootstrap.sh's tool directories
# ($MCLOUD_CACHE/tools/<tool>/bin), then on PATH, then in /usr/local/go/bin.
function(mcloud_require_tool var names min_version regex howto)
  set(args ${ARGN})
  if(NOT args)
    set(args --version)
  endif()
  if(DEFINED ENV{MCLOUD_CACHE})
    set(cache $ENV{MCLOUD_CACHE})
  elseif(DEFINED ENV{MCLOUD_HOME})
    set(cache $ENV{MCLOUD_HOME}/cache)
  else()
    set(cache $ENV{HOME}/.mcloud/cache)
  endif()
  find_program(${var} NAMES ${names}
               HINTS ${cache}/tools/node/bin ${cache}/tools/go/bin
               PATHS /usr/local/go/bin  # Go's own tarball, not always on PATH (as in scripts/lib.sh)
               DOC "path of ${names} (needed by the tests)")
  set(path ${${var}})
  if(NOT path OR NOT EXISTS "${path}")
    message(FATAL_ERROR "${names} not found (${var}=${path}): the tests need it.\n"
                        "Install it: ${howto}\n"
                        "or give its path: cmake -D${var}=/path/to/${names} ...")
  endif()
  execute_process(COMMAND ${path} ${args} OUTPUT_VARIABLE out ERROR_VARIABLE out
                  RESULT_VARIABLE rc TIMEOUT 30)
  if(NOT rc EQUAL 0 OR NOT out MATCHES "${regex}")
    string(STRIP "${out}" out)
    message(FATAL_ERROR "${path} ${args} failed or printed no version (exit ${rc}: ${out}).\n"
                        "Install a working ${names}: ${howto}")
  endif()
  set(version ${CMAKE_MATCH_1})
  if(min_version AND version VERSION_LESS min_version)
    message(FATAL_ERROR "${path} is version ${version}, too old: the tests need ${names} >= ${min_version}.\n"
                        "Install it: ${howto}\n"
                        "or give the path of a newer one: cmake -D${var}=/path/to/${names} ...")
  endif()
  message(STATUS "${names} ${version}: ${path}")
endfunction()
