pytest_plugins = ["pacte_common.testing"]
