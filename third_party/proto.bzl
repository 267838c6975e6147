"""Protocol Buffers + gRPC C++ code generation with the system protoc.

Bazel 4's native cc_proto_library wants the protobuf source repository, which
cannot be downloaded here, so a genrule runs Debian's protoc and
grpc_cpp_plugin directly.

Import paths: a proto in a package that sets `import_root_is_package = True`
(the public API in //proto) is imported relative to that package, e.g.
"autolrs/v1/service.proto", and its header included as
"autolrs/v1/service.pb.h". Elsewhere protos are imported relative to the
workspace root, e.g. "server/job_state.proto".
"""

def cc_grpc_proto_library(
        name,
        srcs,
        deps = [],
        proto_deps = {},
        grpc = True,
        import_root_is_package = False,
        visibility = None):
    """C++ messages (and gRPC stubs when grpc = True) for `srcs`.

    Args:
      name: the cc_library to create; `name + "_protos"` exports the sources.
      srcs: .proto files of this package.
      deps: cc_grpc_proto_library targets whose protos `srcs` import.
      proto_deps: the matching `*_protos` filegroups, with their import roots
        given as `{"//proto:autolrs_v1_protos": "proto"}`.
      grpc: whether to generate service stubs as well.
      import_root_is_package: resolve imports relative to this package.
      visibility: of the generated targets.
    """
    pkg = native.package_name()
    root = pkg if import_root_is_package else ""
    gendir = "$(GENDIR)/" + root if root else "$(GENDIR)"
    base = [s[:-len(".proto")] for s in srcs]
    outs = [b + ".pb.h" for b in base] + [b + ".pb.cc" for b in base]
    if grpc:
        outs += [b + ".grpc.pb.h" for b in base] + [b + ".grpc.pb.cc" for b in base]
    includes = ["-I" + (root or ".")] + ["-I" + r for r in proto_deps.values()]
    cmd = ["/usr/bin/protoc"] + includes + ["--cpp_out=" + gendir]
    if grpc:
        cmd += [
            "--grpc_out=" + gendir,
            "--plugin=protoc-gen-grpc=/usr/bin/grpc_cpp_plugin",
        ]
    cmd += ["$(location %s)" % s for s in srcs]
    native.filegroup(
        name = name + "_protos",
        srcs = srcs,
        visibility = visibility,
    )
    native.genrule(
        name = name + "_gen",
        srcs = srcs + proto_deps.keys(),
        outs = outs,
        cmd = " ".join(cmd),
    )
    native.cc_library(
        name = name,
        srcs = [o for o in outs if o.endswith(".cc")],
        hdrs = [o for o in outs if o.endswith(".h")],
        includes = ["."] if import_root_is_package else [],
        deps = deps + ["//third_party:grpc++" if grpc else "//third_party:protobuf"],
        visibility = visibility,
    )
