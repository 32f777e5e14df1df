print("peer not written yet")
