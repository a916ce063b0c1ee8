"""Helpers shared by every module of tfp_nrg; not part of the public API."""
