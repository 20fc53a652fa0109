"""reversible"""
