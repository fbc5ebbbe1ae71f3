"""The floor every package stands on: files written atomically and weights given the user's mode (`atomic`),
output folders claimed without overwriting a stranger's files (`output_folder`), optional extras imported with
an install hint (`optional`), folders uploaded to the Hub (`hub`), jobs of stages that a rerun resumes
(`stages`), a release's text cleaned as it comes in and escaped as it goes out (`text`), and worker pools
started from a clean interpreter (`workers`). It imports nothing of the project."""
