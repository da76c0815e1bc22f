"""redshift"""
