"""Instructor and CI tooling: notebooks, exercises, checks, grading, lab.

Imports the topic modules; never imported by them.
"""
