# udsrpc-bench: the forking load tester of udsrpc-bench(1); sources in bench/.
# On libudsrpc's client API (connect, default socket path, the fd for its own
# poll loop), with the library's histogram, so its latency figures are
# computed as daemon.stats'.
add_executable(udsrpc-bench
  bench/main.c
  bench/opts.c
  bench/worker.c
  bench/reply.c
  bench/wire.c
  bench/report.c)
target_compile_options(udsrpc-bench PRIVATE ${UDSRPC_WARNINGS})
target_link_libraries(udsrpc-bench PRIVATE udsrpc udsrpc_common m)

# Installed with the man page by contrib/install.cmake.
