application = 3
