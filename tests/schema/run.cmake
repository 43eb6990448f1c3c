# ctest schema.openrpc_meta: cmake -DSRC=tests/schema -DWORK=dir -DSCHEMA_DIR=schema -P run.cmake
# Installs the pinned npm packages into WORK (once, or again when the
# lockfile changed), then runs validate.mjs. Without node or npm this fails
# rather than skips: a check that silently does not run protects nothing.
find_program(NODE node)
find_program(NPM npm)
if(NOT NODE OR NOT NPM)
  message(FATAL_ERROR "schema.openrpc_meta needs node and npm (Node 18 or later) to check "
    "schema/ against the OpenRPC meta-schema; install them (Debian: apt-get install nodejs npm)")
endif()

file(MAKE_DIRECTORY "${WORK}")
set(lock_src "${SRC}/package-lock.json")
set(lock_dst "${WORK}/package-lock.json")
set(fresh FALSE)
if(EXISTS "${WORK}/node_modules" AND EXISTS "${lock_dst}")
  file(SHA256 "${lock_src}" want)
  file(SHA256 "${lock_dst}" have)
  if(want STREQUAL have)
    set(fresh TRUE)
  endif()
endif()
if(NOT fresh)
  file(REMOVE_RECURSE "${WORK}/node_modules")
  file(COPY "${SRC}/package.json" "${lock_src}" DESTINATION "${WORK}")
  execute_process(COMMAND "${NPM}" ci --no-audit --no-fund
    WORKING_DIRECTORY "${WORK}" RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    # Leave no lockfile behind, so the next run installs again.
    file(REMOVE "${lock_dst}")
    message(FATAL_ERROR "npm ci in ${WORK} failed (${rc}); the npm registry must be reachable")
  endif()
endif()

execute_process(COMMAND "${NODE}" "${SRC}/validate.mjs" "${SCHEMA_DIR}" "${WORK}/node_modules/.."
  RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "schema/ does not pass the OpenRPC meta-schema / ajv check (see above)")
endif()
