"""Order service: takes orders over HTTP, publishes OrderPlaced, follows their outcome."""
