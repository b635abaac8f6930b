"""Inventory service: keeps stock levels and reserves stock for placed orders."""
