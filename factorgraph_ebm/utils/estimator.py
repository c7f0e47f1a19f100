"""The scikit-learn estimator protocol without scikit-learn: parameters and option names.

:class:`ParamsMixin` gives a class whose ``__init__`` stores its keyword
arguments unchanged the methods scikit-learn's ``clone``, ``GridSearchCV`` and
``Pipeline`` call: ``get_params(deep=True)`` and ``set_params(**params)``
(nested ``name__sub`` keys included), plus a ``repr`` that shows the
arguments that differ from their defaults. :func:`check_choice` rejects an
unknown option name with the valid ones and the closest match.

scikit-learn stays optional: nothing here imports it.
"""

import difflib
import inspect

from ..exceptions import DeclarationError

__all__ = ["ParamsMixin", "check_choice", "suggest"]


def _normalized(name):
    return name.lower().replace("-", "").replace("_", "").replace(" ", "")


def suggest(value, choices, aliases=None):
    """``"; did you mean 'x'?"`` for the choice closest to ``value`` (difflib), or ``""``.

    ``aliases`` maps other spellings (compared lower case, without ``-``,
    ``_`` and spaces) to a choice, for names difflib cannot guess
    (``"crossentropy"`` is the ``"nll"`` loss).

    Examples
    --------
    >>> suggest("lbgfs", ["sgd", "adam", "lbfgs"])
    "; did you mean 'lbfgs'?"
    >>> suggest("Cross-Entropy", ["nll", "hinge"], aliases={"crossentropy": "nll"})
    "; did you mean 'nll'?"
    >>> suggest("zzz", ["nll", "hinge"])
    ''
    """
    if not isinstance(value, str):
        return ""
    choices = [c for c in choices if isinstance(c, str)]
    key = _normalized(value)
    alias = {_normalized(k): v for k, v in (aliases or {}).items()}.get(key)
    if alias is not None:
        return f"; did you mean {alias!r}?"
    by_key = {_normalized(c): c for c in choices}
    close = difflib.get_close_matches(key, list(by_key), n=1, cutoff=0.6)
    return f"; did you mean {by_key[close[0]]!r}?" if close else ""


def check_choice(value, name, choices, *, allowed="one of", aliases=None, error=DeclarationError):
    """Return ``value`` if it is one of ``choices``, else raise ``error`` naming the valid ones.

    The message lists the choices, the value given, and the closest choice
    (see :func:`suggest`).

    Examples
    --------
    >>> check_choice("adam", "optimizer", ["sgd", "adam", "lbfgs"])
    'adam'
    >>> check_choice("Adam ", "optimizer", ["sgd", "adam", "lbfgs"])
    Traceback (most recent call last):
        ...
    factorgraph_ebm.exceptions.DeclarationError: optimizer must be one of ['adam', 'lbfgs', 'sgd'], got 'Adam '; did you mean 'adam'?
    """
    try:
        if value in choices:
            return value
    except TypeError:                                   # unhashable value
        pass
    raise error(f"{name} must be {allowed} {sorted(choices)}, got {value!r}{suggest(value, choices, aliases)}")


class ParamsMixin:
    """``get_params`` / ``set_params`` / ``repr`` from the signature of ``__init__``.

    ``__init__`` must take keyword arguments only (no ``*args`` /
    ``**kwargs``) and store each one unchanged under its own name, as
    scikit-learn's estimators do. A subclass that wants to reject bad values
    in :meth:`set_params` overrides ``_check_params(params)`` (it receives
    every argument as it would be after the call, and raises before anything
    is changed).

    Examples
    --------
    >>> class Model(ParamsMixin):
    ...     def __init__(self, alpha=1.0, *, kind="a"):
    ...         self.alpha = alpha
    ...         self.kind = kind
    >>> m = Model(kind="b")
    >>> m
    Model(kind='b')
    >>> m.get_params()
    {'alpha': 1.0, 'kind': 'b'}
    >>> m.set_params(alpha=2.0).alpha
    2.0
    >>> m.set_params(alhpa=3.0)
    Traceback (most recent call last):
        ...
    factorgraph_ebm.exceptions.DeclarationError: invalid parameter 'alhpa' for Model; valid: ['alpha', 'kind']; did you mean 'alpha'?
    """

    @classmethod
    def _get_param_names(cls):
        """The constructor's argument names, in signature order."""
        init = cls.__init__
        if init is object.__init__:
            return []
        names = []
        for p in inspect.signature(init).parameters.values():
            if p.name == "self":
                continue
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                raise TypeError(f"{cls.__name__}.__init__ must not take *args or **kwargs (get_params lists "
                                "the constructor's arguments)")
            names.append(p.name)
        return names

    def get_params(self, deep=True):
        """The constructor arguments, as a dict.

        Parameters
        ----------
        deep : bool
            Also list ``name__sub`` for the parameters of arguments that have
            ``get_params`` themselves (scikit-learn's convention).

        Returns
        -------
        dict
            ``type(self)(**self.get_params(deep=False))`` is an unfitted copy.

        Examples
        --------
        >>> from factorgraph_ebm import Trainer
        >>> Trainer("hinge", max_epochs=3).get_params()["max_epochs"]
        3
        """
        out = {}
        for name in self._get_param_names():
            value = getattr(self, name)
            out[name] = value
            if deep and hasattr(value, "get_params") and not isinstance(value, type):
                out.update((f"{name}__{k}", v) for k, v in value.get_params(deep=True).items())
        return out

    def set_params(self, **params):
        """Set constructor arguments (``name__sub`` sets an argument's own parameter); returns self.

        Unknown names raise :class:`~factorgraph_ebm.DeclarationError` listing
        the valid ones; nothing is changed then.

        Examples
        --------
        >>> from factorgraph_ebm import Trainer
        >>> Trainer(progress=False).set_params(l2=0.1, max_epochs=5)
        Trainer(max_epochs=5, l2=0.1, progress=False)
        """
        if not params:
            return self
        valid = self._get_param_names()
        own, nested = {}, {}
        for key, value in params.items():
            name, sep, sub = key.partition("__")
            if name not in valid:
                raise DeclarationError(f"invalid parameter {name!r} for {type(self).__name__}; valid: {valid}"
                                       f"{suggest(name, valid)}")
            if sep:
                target = own.get(name, getattr(self, name))
                if not hasattr(target, "set_params"):
                    raise DeclarationError(f"invalid parameter {key!r} for {type(self).__name__}: {name!r} is "
                                           f"{target!r}, which has no parameters of its own")
                nested.setdefault(name, {})[sub] = value
            else:
                own[name] = value
        self._check_params({**self.get_params(deep=False), **own})
        for name, value in own.items():
            setattr(self, name, value)
        for name, sub_params in nested.items():
            getattr(self, name).set_params(**sub_params)
        return self

    def _check_params(self, params):
        """Hook: raise for bad values in ``params`` (every argument after a ``set_params``)."""

    def __repr__(self):
        defaults = {name: p.default for name, p in inspect.signature(type(self).__init__).parameters.items()}
        changed = [f"{k}={v!r}" for k, v in self.get_params(deep=False).items() if repr(v) != repr(defaults[k])]
        return f"{type(self).__name__}({', '.join(changed)})"
