"""moto"""
