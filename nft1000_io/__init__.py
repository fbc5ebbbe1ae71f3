"""The floor every package stands on: files written atomically (`atomic`), output folders claimed without
overwriting a stranger's files (`output_folder`), optional extras imported with an install hint (`optional`),
folders uploaded to the Hub (`hub`), and jobs of stages that a rerun resumes (`stages`). It imports nothing of
the project."""
