"""quantbench's configuration: one frozen ``Settings`` from ``[tool.quantbench]`` and the command line
(``settings``), every value checked once where it comes in (``checks``).

``quantbench.config`` stays the import path of the settings' names, which this face hands on.
"""

from quantbench.config.settings import (SCENARIO_FIELDS, SCENARIOS, Scenario, Settings, SettingsError,
                                        build_settings, default_cache_dir, differing_fields, session_difference,
                                        expand_home, home_problem, listed, read_pyproject,
                                        scenario_matching)

__all__ = ["SCENARIO_FIELDS", "SCENARIOS", "Scenario", "Settings", "SettingsError", "build_settings",
           "default_cache_dir", "differing_fields", "session_difference", "expand_home", "home_problem", "listed",
           "read_pyproject", "scenario_matching"]
