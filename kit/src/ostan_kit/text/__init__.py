"""Persian text, the Jalali working calendar and tracking codes."""
