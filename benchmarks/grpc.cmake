# gRPC transport cost: an authenticated unary call over loopback beside the
# same kernel work in process and a no-op gRPC call (docs/benchmarks/grpc.md).
# servers/ is configured after benchmarks/, so the gRPC tools are checked here.
if(KOS_BUILD_SERVERS AND EXISTS ${PROJECT_SOURCE_DIR}/servers/grpc/CMakeLists.txt)
  find_program(KOS_PROTOC protoc)
  find_program(KOS_GRPC_CPP_PLUGIN grpc_cpp_plugin)
  find_library(KOS_GRPCPP_REFLECTION grpc++_reflection)
  if(KOS_PROTOC AND KOS_GRPC_CPP_PLUGIN AND KOS_GRPCPP_REFLECTION)
    add_executable(kos_grpc_benchmark ${CMAKE_CURRENT_LIST_DIR}/grpc_benchmark.cc)
    target_include_directories(kos_grpc_benchmark PRIVATE ${PROJECT_SOURCE_DIR}/tests)
    target_link_libraries(kos_grpc_benchmark PRIVATE kos_grpc_server kos_testing benchmark::benchmark)
  endif()
endif()
