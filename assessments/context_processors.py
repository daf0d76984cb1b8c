from core.roles import is_manager, is_reviewer


def roles(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"is_manager": False, "is_reviewer": False}
    return {"is_manager": is_manager(user), "is_reviewer": is_reviewer(user)}
