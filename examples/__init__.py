"""Example games written from scratch for the league (see README "Add your own game")."""
