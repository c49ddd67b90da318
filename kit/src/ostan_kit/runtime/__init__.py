"""Running a service: settings, the gRPC server and its servicers, health, errors, logs, tracing."""
