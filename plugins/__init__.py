"""parac's built-in plugins. Every module here is loaded as a plugin named after the module.

They are written exactly as a third-party plugin would be: hook implementations through
:mod:`parac.server.api`, nothing else.
"""
