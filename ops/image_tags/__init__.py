"""The image tags an environment runs: where they live in the values, set them to a CI build, promote."""
