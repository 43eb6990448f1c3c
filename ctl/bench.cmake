# udsrpc-bench: the forking load tester of CLI.md; sources in bench/.
# Linked with the shared client layer (connect, default socket path) and the
# daemon's histogram, so its latency figures are computed as daemon.stats'.
add_executable(udsrpc-bench
  bench/main.c
  bench/opts.c
  bench/worker.c
  bench/reply.c
  bench/wire.c
  bench/report.c)
target_compile_options(udsrpc-bench PRIVATE ${UDSRPC_WARNINGS})
target_link_libraries(udsrpc-bench PRIVATE udsrpc_client m)

# Installed with the man page by contrib/install.cmake.
