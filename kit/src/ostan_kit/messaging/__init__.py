"""The event bus: NATS JetStream, CloudEvents, the transactional outbox and its relay."""
