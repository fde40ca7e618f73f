"""A small analyst package: steps split over several modules."""
