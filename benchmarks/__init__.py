"""`pacte bench`: each scenario measures the project and its bare-stack baseline in one run."""
