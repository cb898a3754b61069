pytest_plugins = ["pacte_testing"]
