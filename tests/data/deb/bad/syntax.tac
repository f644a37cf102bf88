application = (
