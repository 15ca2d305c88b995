"""Reading manifest files: YAML text -> plain Python data, with positions and limits."""
