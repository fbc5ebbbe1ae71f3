"""The floor every package stands on: files written atomically (`atomic`), output folders claimed without
overwriting a stranger's files (`output_folder`), optional extras imported with an install hint (`optional`),
and folders uploaded to the Hub (`hub`). It imports nothing of the project."""
