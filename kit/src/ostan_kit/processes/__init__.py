"""Process definitions as data: loading, checking, forms and guards."""
