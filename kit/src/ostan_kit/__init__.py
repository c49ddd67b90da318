"""The Ostan service chassis: what every office service and the gateway share."""
